package io.tokenquota.servlet.breakit63;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound63Mp4BreakItTest extends AbstractRound63Mp4 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
