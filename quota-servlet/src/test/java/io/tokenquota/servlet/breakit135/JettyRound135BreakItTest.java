package io.tokenquota.servlet.breakit135;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound135BreakItTest extends AbstractRound135 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
