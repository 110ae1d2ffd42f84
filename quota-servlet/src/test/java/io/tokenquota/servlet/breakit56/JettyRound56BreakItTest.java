package io.tokenquota.servlet.breakit56;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound56BreakItTest extends AbstractRound56 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
