package io.tokenquota.servlet.breakit502;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound502BreakItTest extends AbstractRound502 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
