package io.tokenquota.servlet.breakit387;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound387BreakItTest extends AbstractRound387 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
