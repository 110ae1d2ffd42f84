package io.tokenquota.servlet.breakit93;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound93BreakItTest extends AbstractRound93 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
