package io.tokenquota.servlet.breakit109;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound109BreakItTest extends AbstractRound109 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Override
    boolean registers() {
        return true;
    }
}
