package io.tokenquota.servlet.breakit500;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound500BreakItTest extends AbstractRound500 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
