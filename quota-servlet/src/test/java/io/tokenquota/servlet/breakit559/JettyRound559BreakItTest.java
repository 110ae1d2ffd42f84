package io.tokenquota.servlet.breakit559;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound559BreakItTest extends AbstractRound559 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
