package io.tokenquota.servlet.breakit398;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound398BreakItTest extends AbstractRound398 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
