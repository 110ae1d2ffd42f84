package io.tokenquota.servlet.breakit436;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound436BreakItTest extends AbstractRound436 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
