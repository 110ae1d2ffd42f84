package io.tokenquota.servlet.breakit78;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound78BreakItTest extends AbstractRound78 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
