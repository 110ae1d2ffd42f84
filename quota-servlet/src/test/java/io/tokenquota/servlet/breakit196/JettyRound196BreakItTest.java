package io.tokenquota.servlet.breakit196;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound196BreakItTest extends AbstractRound196 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
