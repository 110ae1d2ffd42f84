package io.tokenquota.servlet.breakit224;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound224BreakItTest extends AbstractRound224 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
