package io.tokenquota.servlet.breakit297;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound297BreakItTest extends AbstractRound297 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
