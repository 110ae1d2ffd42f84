package io.tokenquota.servlet.breakit526;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound526BreakItTest extends AbstractRound526 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
