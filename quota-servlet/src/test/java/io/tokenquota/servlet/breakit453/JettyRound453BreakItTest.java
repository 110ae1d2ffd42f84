package io.tokenquota.servlet.breakit453;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound453BreakItTest extends AbstractRound453 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
