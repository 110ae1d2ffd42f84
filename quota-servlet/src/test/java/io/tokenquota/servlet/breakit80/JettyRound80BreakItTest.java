package io.tokenquota.servlet.breakit80;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound80BreakItTest extends AbstractRound80 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
