package io.tokenquota.servlet.breakit461;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound461BreakItTest extends AbstractRound461 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
