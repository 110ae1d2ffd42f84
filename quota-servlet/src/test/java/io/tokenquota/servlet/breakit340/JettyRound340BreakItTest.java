package io.tokenquota.servlet.breakit340;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound340BreakItTest extends AbstractRound340 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
