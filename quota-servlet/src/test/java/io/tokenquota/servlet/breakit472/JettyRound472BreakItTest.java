package io.tokenquota.servlet.breakit472;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound472BreakItTest extends AbstractRound472 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
