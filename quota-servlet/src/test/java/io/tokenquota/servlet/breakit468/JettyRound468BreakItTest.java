package io.tokenquota.servlet.breakit468;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound468BreakItTest extends AbstractRound468 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
