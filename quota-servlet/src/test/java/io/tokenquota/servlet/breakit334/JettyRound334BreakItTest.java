package io.tokenquota.servlet.breakit334;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound334BreakItTest extends AbstractRound334 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
