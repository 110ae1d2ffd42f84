package io.tokenquota.servlet.breakit409;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound409BreakItTest extends AbstractRound409 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
