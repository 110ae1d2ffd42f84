package io.tokenquota.servlet.breakit250;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound250BreakItTest extends AbstractRound250 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
