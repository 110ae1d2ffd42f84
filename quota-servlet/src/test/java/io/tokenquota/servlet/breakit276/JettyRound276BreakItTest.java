package io.tokenquota.servlet.breakit276;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound276BreakItTest extends AbstractRound276 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
