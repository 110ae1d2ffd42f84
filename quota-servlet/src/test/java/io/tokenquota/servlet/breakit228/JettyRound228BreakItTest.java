package io.tokenquota.servlet.breakit228;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound228BreakItTest extends AbstractRound228 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
