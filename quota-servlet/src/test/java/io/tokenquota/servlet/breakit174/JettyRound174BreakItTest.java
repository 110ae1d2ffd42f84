package io.tokenquota.servlet.breakit174;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound174BreakItTest extends AbstractRound174 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
