package io.tokenquota.servlet.breakit381;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound381BreakItTest extends AbstractRound381 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
