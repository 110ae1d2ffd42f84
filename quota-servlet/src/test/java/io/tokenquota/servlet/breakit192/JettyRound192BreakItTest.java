package io.tokenquota.servlet.breakit192;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound192BreakItTest extends AbstractRound192 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
