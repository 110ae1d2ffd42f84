package io.tokenquota.servlet.breakit46;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound46BreakItTest extends AbstractRound46 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
