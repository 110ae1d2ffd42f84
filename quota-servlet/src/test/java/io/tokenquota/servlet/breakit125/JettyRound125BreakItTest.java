package io.tokenquota.servlet.breakit125;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound125BreakItTest extends AbstractRound125 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
