package io.tokenquota.servlet.breakit315;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound315BreakItTest extends AbstractRound315 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
