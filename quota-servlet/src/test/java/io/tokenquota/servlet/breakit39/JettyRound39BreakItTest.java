package io.tokenquota.servlet.breakit39;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound39BreakItTest extends AbstractRound39 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
