package io.tokenquota.servlet.breakit140;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound140BreakItTest extends AbstractRound140 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
