package io.tokenquota.servlet.breakit350;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound350BreakItTest extends AbstractRound350 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
