package io.tokenquota.servlet.breakit213;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound213BreakItTest extends AbstractRound213 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
