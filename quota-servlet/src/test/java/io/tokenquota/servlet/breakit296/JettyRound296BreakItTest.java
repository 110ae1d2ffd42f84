package io.tokenquota.servlet.breakit296;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound296BreakItTest extends AbstractRound296 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
