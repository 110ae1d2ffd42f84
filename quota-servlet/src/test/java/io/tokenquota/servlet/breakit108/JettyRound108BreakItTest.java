package io.tokenquota.servlet.breakit108;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound108BreakItTest extends AbstractRound108 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
