package io.tokenquota.servlet.breakit353;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound353BreakItTest extends AbstractRound353 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
