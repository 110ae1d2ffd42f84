package io.tokenquota.servlet.breakit433;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound433BreakItTest extends AbstractRound433 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
