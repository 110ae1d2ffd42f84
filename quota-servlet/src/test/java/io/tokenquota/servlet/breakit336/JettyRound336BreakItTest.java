package io.tokenquota.servlet.breakit336;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound336BreakItTest extends AbstractRound336 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
