package io.tokenquota.servlet.breakit473;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound473BreakItTest extends AbstractRound473 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
