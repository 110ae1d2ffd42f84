package io.tokenquota.servlet.breakit393;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound393BreakItTest extends AbstractRound393 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
