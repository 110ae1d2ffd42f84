package io.tokenquota.servlet.breakit254;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound254BreakItTest extends AbstractRound254 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
