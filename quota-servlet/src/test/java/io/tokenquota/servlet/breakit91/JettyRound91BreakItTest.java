package io.tokenquota.servlet.breakit91;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound91BreakItTest extends AbstractRound91 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
