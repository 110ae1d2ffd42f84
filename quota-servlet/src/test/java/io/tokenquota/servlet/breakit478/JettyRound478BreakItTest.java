package io.tokenquota.servlet.breakit478;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound478BreakItTest extends AbstractRound478 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
