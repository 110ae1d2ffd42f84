package io.tokenquota.servlet.breakit146;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound146BreakItTest extends AbstractRound146 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
