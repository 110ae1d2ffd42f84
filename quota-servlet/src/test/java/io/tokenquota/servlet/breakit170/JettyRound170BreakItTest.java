package io.tokenquota.servlet.breakit170;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound170BreakItTest extends AbstractRound170 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
