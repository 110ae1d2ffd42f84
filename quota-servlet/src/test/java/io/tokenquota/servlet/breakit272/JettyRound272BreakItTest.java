package io.tokenquota.servlet.breakit272;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound272BreakItTest extends AbstractRound272 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
