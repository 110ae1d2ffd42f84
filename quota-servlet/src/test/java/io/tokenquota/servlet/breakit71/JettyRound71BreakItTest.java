package io.tokenquota.servlet.breakit71;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound71BreakItTest extends AbstractRound71 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
