package io.tokenquota.servlet.breakit133;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound133BreakItTest extends AbstractRound133 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
