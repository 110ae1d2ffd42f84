package io.tokenquota.servlet.breakit299;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound299BreakItTest extends AbstractRound299 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
