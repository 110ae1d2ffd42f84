package io.tokenquota.servlet.breakit495;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound495BreakItTest extends AbstractRound495 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
