package io.tokenquota.servlet.breakit37;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound37BreakItTest extends AbstractRound37 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
