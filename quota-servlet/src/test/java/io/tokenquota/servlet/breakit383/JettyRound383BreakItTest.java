package io.tokenquota.servlet.breakit383;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound383BreakItTest extends AbstractRound383 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
