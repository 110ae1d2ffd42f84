package io.tokenquota.servlet.breakit474;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound474BreakItTest extends AbstractRound474 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
