package io.tokenquota.servlet.breakit364;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound364BreakItTest extends AbstractRound364 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
