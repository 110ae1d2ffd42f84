package io.tokenquota.servlet.breakit109;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound109FallbackBreakItTest extends AbstractRound109 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Override
    boolean registers() {
        return false;
    }
}
