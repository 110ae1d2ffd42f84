package io.tokenquota.servlet.breakit198;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound198BreakItTest extends AbstractRound198 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
