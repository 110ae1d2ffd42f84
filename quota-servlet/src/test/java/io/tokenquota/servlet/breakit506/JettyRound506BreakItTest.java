package io.tokenquota.servlet.breakit506;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound506BreakItTest extends AbstractRound506 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
