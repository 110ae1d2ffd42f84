package io.tokenquota.servlet.breakit101;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound101BreakItTest extends AbstractRound101 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
