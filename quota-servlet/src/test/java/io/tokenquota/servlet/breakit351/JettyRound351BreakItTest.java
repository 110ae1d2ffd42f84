package io.tokenquota.servlet.breakit351;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound351BreakItTest extends AbstractRound351 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
