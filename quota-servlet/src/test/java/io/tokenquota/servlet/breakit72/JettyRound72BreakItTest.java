package io.tokenquota.servlet.breakit72;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound72BreakItTest extends AbstractRound72 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
