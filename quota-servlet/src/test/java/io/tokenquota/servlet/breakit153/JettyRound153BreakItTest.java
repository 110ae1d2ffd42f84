package io.tokenquota.servlet.breakit153;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound153BreakItTest extends AbstractRound153 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
