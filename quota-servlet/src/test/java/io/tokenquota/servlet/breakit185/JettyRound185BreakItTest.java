package io.tokenquota.servlet.breakit185;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound185BreakItTest extends AbstractRound185 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
