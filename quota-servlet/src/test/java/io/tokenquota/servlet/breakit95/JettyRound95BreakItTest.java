package io.tokenquota.servlet.breakit95;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound95BreakItTest extends AbstractRound95 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
