package io.tokenquota.servlet.breakit445;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound445BreakItTest extends AbstractRound445 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
