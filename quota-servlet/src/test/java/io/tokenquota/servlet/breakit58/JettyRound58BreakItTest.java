package io.tokenquota.servlet.breakit58;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound58BreakItTest extends AbstractRound58 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
