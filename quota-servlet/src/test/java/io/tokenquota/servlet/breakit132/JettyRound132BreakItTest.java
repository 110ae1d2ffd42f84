package io.tokenquota.servlet.breakit132;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound132BreakItTest extends AbstractRound132 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
