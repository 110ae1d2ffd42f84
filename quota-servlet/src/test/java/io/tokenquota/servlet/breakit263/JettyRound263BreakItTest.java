package io.tokenquota.servlet.breakit263;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound263BreakItTest extends AbstractRound263 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
