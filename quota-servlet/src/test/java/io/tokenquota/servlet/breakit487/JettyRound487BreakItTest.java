package io.tokenquota.servlet.breakit487;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound487BreakItTest extends AbstractRound487 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
