package io.tokenquota.servlet.breakit139;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound139BreakItTest extends AbstractRound139 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
