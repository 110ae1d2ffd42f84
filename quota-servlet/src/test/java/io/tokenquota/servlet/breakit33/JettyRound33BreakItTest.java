package io.tokenquota.servlet.breakit33;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound33BreakItTest extends AbstractRound33 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
