package io.tokenquota.servlet.breakit333;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound333BreakItTest extends AbstractRound333 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
