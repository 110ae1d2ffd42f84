package io.tokenquota.servlet.breakit138;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound138BreakItTest extends AbstractRound138 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
