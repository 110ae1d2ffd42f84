package io.tokenquota.servlet.breakit20;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound20BreakItTest extends AbstractRound20 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
