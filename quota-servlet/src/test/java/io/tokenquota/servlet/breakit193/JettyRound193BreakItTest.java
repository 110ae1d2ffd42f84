package io.tokenquota.servlet.breakit193;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound193BreakItTest extends AbstractRound193 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
