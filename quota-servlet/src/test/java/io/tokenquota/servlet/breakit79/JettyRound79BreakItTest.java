package io.tokenquota.servlet.breakit79;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound79BreakItTest extends AbstractRound79 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
