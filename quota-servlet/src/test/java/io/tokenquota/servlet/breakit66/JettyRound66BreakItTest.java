package io.tokenquota.servlet.breakit66;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound66BreakItTest extends AbstractRound66 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
