package io.tokenquota.servlet.breakit131;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound131BreakItTest extends AbstractRound131 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
