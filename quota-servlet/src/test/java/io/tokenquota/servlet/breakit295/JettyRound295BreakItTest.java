package io.tokenquota.servlet.breakit295;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound295BreakItTest extends AbstractRound295 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
