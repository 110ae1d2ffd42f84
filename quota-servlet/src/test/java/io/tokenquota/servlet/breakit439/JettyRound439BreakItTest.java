package io.tokenquota.servlet.breakit439;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound439BreakItTest extends AbstractRound439 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
