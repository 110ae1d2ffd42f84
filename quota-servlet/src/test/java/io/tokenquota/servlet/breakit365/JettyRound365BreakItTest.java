package io.tokenquota.servlet.breakit365;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound365BreakItTest extends AbstractRound365 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
