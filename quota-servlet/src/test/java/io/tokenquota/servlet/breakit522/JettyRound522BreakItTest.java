package io.tokenquota.servlet.breakit522;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound522BreakItTest extends AbstractRound522 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
