package io.tokenquota.servlet.breakit220;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound220BreakItTest extends AbstractRound220 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
