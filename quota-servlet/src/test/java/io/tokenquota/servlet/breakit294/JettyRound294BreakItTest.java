package io.tokenquota.servlet.breakit294;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound294BreakItTest extends AbstractRound294 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
