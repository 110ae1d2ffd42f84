package io.tokenquota.servlet.breakit411;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound411BreakItTest extends AbstractRound411 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
