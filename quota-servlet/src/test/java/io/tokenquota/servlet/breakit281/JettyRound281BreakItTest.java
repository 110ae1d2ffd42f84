package io.tokenquota.servlet.breakit281;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound281BreakItTest extends AbstractRound281 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
