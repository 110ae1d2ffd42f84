package io.tokenquota.servlet.breakit98;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound98BreakItTest extends AbstractRound98 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
