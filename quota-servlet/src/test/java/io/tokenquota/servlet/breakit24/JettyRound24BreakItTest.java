package io.tokenquota.servlet.breakit24;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound24BreakItTest extends AbstractRound24 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
