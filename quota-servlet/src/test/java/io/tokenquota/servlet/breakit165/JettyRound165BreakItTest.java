package io.tokenquota.servlet.breakit165;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound165BreakItTest extends AbstractRound165 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
