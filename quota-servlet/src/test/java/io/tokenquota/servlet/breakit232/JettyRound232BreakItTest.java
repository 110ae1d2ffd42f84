package io.tokenquota.servlet.breakit232;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound232BreakItTest extends AbstractRound232 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
