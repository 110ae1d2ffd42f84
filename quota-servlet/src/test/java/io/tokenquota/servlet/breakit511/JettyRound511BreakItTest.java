package io.tokenquota.servlet.breakit511;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound511BreakItTest extends AbstractRound511 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
