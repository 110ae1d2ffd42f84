package io.tokenquota.servlet.breakit491;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound491BreakItTest extends AbstractRound491 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
