package io.tokenquota.servlet.breakit300;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound300BreakItTest extends AbstractRound300 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
