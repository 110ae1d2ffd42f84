package io.tokenquota.servlet.breakit466;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound466BreakItTest extends AbstractRound466 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
