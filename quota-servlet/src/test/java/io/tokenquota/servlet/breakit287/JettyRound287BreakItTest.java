package io.tokenquota.servlet.breakit287;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound287BreakItTest extends AbstractRound287 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
