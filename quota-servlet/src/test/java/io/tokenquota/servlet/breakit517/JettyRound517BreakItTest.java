package io.tokenquota.servlet.breakit517;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound517BreakItTest extends AbstractRound517 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
