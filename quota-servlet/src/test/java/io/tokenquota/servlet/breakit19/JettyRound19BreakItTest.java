package io.tokenquota.servlet.breakit19;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound19BreakItTest extends AbstractRound19 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
