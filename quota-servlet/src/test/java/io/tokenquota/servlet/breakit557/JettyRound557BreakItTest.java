package io.tokenquota.servlet.breakit557;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound557BreakItTest extends AbstractRound557 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
