package io.tokenquota.servlet.breakit18;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound18BreakItTest extends AbstractRound18 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
