package io.tokenquota.servlet.breakit94;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound94BreakItTest extends AbstractRound94 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
