package io.tokenquota.servlet.breakit556;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound556BreakItTest extends AbstractRound556 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
