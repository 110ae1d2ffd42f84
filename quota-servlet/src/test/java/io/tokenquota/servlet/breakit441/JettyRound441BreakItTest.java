package io.tokenquota.servlet.breakit441;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound441BreakItTest extends AbstractRound441 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
