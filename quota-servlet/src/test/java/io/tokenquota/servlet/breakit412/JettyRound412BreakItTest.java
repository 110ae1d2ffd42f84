package io.tokenquota.servlet.breakit412;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound412BreakItTest extends AbstractRound412 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
