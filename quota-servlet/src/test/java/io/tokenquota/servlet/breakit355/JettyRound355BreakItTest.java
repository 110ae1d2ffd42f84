package io.tokenquota.servlet.breakit355;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound355BreakItTest extends AbstractRound355 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
