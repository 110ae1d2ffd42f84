package io.tokenquota.servlet.breakit344;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound344BreakItTest extends AbstractRound344 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
