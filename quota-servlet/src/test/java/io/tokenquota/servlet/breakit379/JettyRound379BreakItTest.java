package io.tokenquota.servlet.breakit379;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound379BreakItTest extends AbstractRound379 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
