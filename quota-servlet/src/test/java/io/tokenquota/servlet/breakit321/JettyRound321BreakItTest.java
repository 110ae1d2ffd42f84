package io.tokenquota.servlet.breakit321;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound321BreakItTest extends AbstractRound321 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
