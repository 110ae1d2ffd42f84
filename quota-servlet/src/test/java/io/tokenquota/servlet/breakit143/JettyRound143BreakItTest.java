package io.tokenquota.servlet.breakit143;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound143BreakItTest extends AbstractRound143 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
