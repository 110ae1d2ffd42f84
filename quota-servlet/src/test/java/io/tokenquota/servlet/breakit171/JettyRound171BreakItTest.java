package io.tokenquota.servlet.breakit171;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound171BreakItTest extends AbstractRound171 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
