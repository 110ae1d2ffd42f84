package io.tokenquota.servlet.breakit339;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound339BreakItTest extends AbstractRound339 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
