package io.tokenquota.servlet.breakit188;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound188BreakItTest extends AbstractRound188 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
