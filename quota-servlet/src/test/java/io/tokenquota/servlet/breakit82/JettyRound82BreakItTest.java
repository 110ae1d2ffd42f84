package io.tokenquota.servlet.breakit82;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound82BreakItTest extends AbstractRound82 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
