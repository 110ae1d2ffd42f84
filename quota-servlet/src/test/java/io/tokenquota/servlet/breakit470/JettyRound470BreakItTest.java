package io.tokenquota.servlet.breakit470;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound470BreakItTest extends AbstractRound470 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
