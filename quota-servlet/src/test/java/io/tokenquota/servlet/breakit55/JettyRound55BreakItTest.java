package io.tokenquota.servlet.breakit55;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound55BreakItTest extends AbstractRound55 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
