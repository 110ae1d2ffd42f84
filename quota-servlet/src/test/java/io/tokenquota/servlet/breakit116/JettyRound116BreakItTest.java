package io.tokenquota.servlet.breakit116;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound116BreakItTest extends AbstractRound116 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
