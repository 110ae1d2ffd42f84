package io.tokenquota.servlet.breakit240;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound240BreakItTest extends AbstractRound240 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
