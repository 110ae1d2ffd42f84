package io.tokenquota.servlet.breakit160;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound160BreakItTest extends AbstractRound160 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
