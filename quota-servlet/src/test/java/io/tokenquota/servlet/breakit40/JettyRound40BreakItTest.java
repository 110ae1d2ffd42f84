package io.tokenquota.servlet.breakit40;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound40BreakItTest extends AbstractRound40 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
