package io.tokenquota.servlet.breakit99;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound99BreakItTest extends AbstractRound99 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
