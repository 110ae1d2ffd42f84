package io.tokenquota.servlet.breakit305;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound305BreakItTest extends AbstractRound305 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
