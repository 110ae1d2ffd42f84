package io.tokenquota.servlet.breakit560;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound560BreakItTest extends AbstractRound560 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
