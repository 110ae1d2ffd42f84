package io.tokenquota.servlet.breakit136;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound136BreakItTest extends AbstractRound136 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
