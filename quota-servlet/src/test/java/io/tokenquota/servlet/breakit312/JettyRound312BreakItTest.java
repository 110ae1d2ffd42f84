package io.tokenquota.servlet.breakit312;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound312BreakItTest extends AbstractRound312 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
