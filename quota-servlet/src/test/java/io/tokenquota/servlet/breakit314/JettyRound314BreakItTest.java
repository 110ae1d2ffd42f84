package io.tokenquota.servlet.breakit314;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound314BreakItTest extends AbstractRound314 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
