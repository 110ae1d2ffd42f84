package io.tokenquota.servlet.breakit204;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound204BreakItTest extends AbstractRound204 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
