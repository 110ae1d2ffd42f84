package io.tokenquota.servlet.breakit527;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound527BreakItTest extends AbstractRound527 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
