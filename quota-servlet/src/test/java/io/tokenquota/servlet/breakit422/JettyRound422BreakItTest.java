package io.tokenquota.servlet.breakit422;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound422BreakItTest extends AbstractRound422 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
