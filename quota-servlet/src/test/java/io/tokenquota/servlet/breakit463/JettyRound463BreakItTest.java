package io.tokenquota.servlet.breakit463;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound463BreakItTest extends AbstractRound463 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
