package io.tokenquota.servlet.breakit457;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound457BreakItTest extends AbstractRound457 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
