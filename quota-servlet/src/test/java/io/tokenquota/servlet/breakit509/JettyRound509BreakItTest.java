package io.tokenquota.servlet.breakit509;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound509BreakItTest extends AbstractRound509 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
