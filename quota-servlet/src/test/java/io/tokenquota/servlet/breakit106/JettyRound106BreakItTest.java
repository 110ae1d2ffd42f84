package io.tokenquota.servlet.breakit106;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound106BreakItTest extends AbstractRound106 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
