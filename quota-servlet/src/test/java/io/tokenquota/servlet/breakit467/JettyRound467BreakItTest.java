package io.tokenquota.servlet.breakit467;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound467BreakItTest extends AbstractRound467 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
