package io.tokenquota.servlet.breakit446;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound446BreakItTest extends AbstractRound446 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
