package io.tokenquota.servlet.breakit14;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound14BreakItTest extends AbstractRound14 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
