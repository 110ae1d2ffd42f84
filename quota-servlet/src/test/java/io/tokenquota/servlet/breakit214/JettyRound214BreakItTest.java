package io.tokenquota.servlet.breakit214;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound214BreakItTest extends AbstractRound214 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
