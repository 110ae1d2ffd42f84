package io.tokenquota.servlet.breakit233;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound233BreakItTest extends AbstractRound233 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
