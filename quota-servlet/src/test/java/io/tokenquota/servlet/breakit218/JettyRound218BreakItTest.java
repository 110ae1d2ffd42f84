package io.tokenquota.servlet.breakit218;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound218BreakItTest extends AbstractRound218 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
