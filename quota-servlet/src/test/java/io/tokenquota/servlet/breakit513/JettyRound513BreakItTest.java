package io.tokenquota.servlet.breakit513;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound513BreakItTest extends AbstractRound513 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
