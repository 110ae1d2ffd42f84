package io.tokenquota.servlet.breakit134;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound134BreakItTest extends AbstractRound134 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
