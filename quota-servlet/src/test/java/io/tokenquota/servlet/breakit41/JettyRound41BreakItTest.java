package io.tokenquota.servlet.breakit41;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound41BreakItTest extends AbstractRound41 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
