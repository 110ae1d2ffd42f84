package io.tokenquota.servlet.breakit190;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound190BreakItTest extends AbstractRound190 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
