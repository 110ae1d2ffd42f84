package io.tokenquota.servlet.breakit23;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound23BreakItTest extends AbstractRound23 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
