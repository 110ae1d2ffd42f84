package io.tokenquota.servlet.breakit87;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound87BreakItTest extends AbstractRound87 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
