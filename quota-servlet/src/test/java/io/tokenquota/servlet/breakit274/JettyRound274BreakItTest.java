package io.tokenquota.servlet.breakit274;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound274BreakItTest extends AbstractRound274 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
