package io.tokenquota.servlet.breakit338;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound338BreakItTest extends AbstractRound338 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
