package io.tokenquota.servlet.breakit69;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound69BreakItTest extends AbstractRound69 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
