package io.tokenquota.servlet.breakit27;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound27BreakItTest extends AbstractRound27 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
