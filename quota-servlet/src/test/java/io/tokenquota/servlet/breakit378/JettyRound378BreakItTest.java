package io.tokenquota.servlet.breakit378;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound378BreakItTest extends AbstractRound378 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
