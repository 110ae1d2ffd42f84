package io.tokenquota.servlet.breakit17;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound17BreakItTest extends AbstractRound17 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
