package io.tokenquota.servlet.breakit503;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound503BreakItTest extends AbstractRound503 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
