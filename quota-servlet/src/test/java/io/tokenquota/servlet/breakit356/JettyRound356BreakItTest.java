package io.tokenquota.servlet.breakit356;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound356BreakItTest extends AbstractRound356 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
