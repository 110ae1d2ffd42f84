package io.tokenquota.servlet.breakit482;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound482BreakItTest extends AbstractRound482 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
