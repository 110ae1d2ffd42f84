package io.tokenquota.servlet.breakit208;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound208BreakItTest extends AbstractRound208 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
