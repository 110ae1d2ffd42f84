package io.tokenquota.servlet.breakit435;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound435BreakItTest extends AbstractRound435 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
