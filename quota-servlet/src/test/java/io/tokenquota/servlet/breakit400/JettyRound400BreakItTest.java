package io.tokenquota.servlet.breakit400;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound400BreakItTest extends AbstractRound400 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
