package io.tokenquota.servlet.breakit384;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound384BreakItTest extends AbstractRound384 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
