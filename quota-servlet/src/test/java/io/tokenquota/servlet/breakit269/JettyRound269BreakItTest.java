package io.tokenquota.servlet.breakit269;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound269BreakItTest extends AbstractRound269 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
