package io.tokenquota.servlet.breakit238;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound238BreakItTest extends AbstractRound238 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
