package io.tokenquota.servlet.breakit245;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound245BreakItTest extends AbstractRound245 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
