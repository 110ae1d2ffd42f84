package io.tokenquota.servlet.breakit43;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound43BreakItTest extends AbstractRound43 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
