package io.tokenquota.servlet.breakit354;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound354BreakItTest extends AbstractRound354 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
