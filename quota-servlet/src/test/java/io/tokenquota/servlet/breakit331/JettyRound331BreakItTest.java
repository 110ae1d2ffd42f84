package io.tokenquota.servlet.breakit331;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound331BreakItTest extends AbstractRound331 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
