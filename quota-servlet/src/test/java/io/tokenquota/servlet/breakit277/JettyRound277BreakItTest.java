package io.tokenquota.servlet.breakit277;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound277BreakItTest extends AbstractRound277 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
