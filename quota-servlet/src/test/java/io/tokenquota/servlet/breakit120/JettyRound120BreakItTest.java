package io.tokenquota.servlet.breakit120;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound120BreakItTest extends AbstractRound120 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
