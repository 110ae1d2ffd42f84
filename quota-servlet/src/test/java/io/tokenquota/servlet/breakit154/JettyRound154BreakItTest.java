package io.tokenquota.servlet.breakit154;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound154BreakItTest extends AbstractRound154 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
