package io.tokenquota.servlet.breakit28;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound28BreakItTest extends AbstractRound28 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
