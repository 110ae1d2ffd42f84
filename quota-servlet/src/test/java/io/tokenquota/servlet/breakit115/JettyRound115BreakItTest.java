package io.tokenquota.servlet.breakit115;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound115BreakItTest extends AbstractRound115 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
