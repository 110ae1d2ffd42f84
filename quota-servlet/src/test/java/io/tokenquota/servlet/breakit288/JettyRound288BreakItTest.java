package io.tokenquota.servlet.breakit288;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound288BreakItTest extends AbstractRound288 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
