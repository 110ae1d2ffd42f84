package io.tokenquota.servlet.breakit311;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound311BreakItTest extends AbstractRound311 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
