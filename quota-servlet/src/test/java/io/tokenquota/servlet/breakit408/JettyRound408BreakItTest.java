package io.tokenquota.servlet.breakit408;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound408BreakItTest extends AbstractRound408 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
