package io.tokenquota.servlet.breakit535;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound535BreakItTest extends AbstractRound535 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
