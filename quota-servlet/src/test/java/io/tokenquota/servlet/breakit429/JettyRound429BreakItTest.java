package io.tokenquota.servlet.breakit429;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound429BreakItTest extends AbstractRound429 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
