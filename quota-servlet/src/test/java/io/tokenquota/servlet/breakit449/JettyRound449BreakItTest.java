package io.tokenquota.servlet.breakit449;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound449BreakItTest extends AbstractRound449 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
