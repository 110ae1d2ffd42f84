package io.tokenquota.servlet.breakit458;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound458BreakItTest extends AbstractRound458 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
