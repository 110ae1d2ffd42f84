package io.tokenquota.servlet.breakit401;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound401BreakItTest extends AbstractRound401 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
