package io.tokenquota.servlet.breakit347;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound347BreakItTest extends AbstractRound347 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
