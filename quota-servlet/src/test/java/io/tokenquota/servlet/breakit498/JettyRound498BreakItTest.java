package io.tokenquota.servlet.breakit498;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound498BreakItTest extends AbstractRound498 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
