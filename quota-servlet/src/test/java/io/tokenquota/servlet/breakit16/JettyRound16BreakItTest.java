package io.tokenquota.servlet.breakit16;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound16BreakItTest extends AbstractRound16 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
