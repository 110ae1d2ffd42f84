package io.tokenquota.servlet.breakit382;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound382BreakItTest extends AbstractRound382 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
