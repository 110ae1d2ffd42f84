package io.tokenquota.servlet.breakit554;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound554BreakItTest extends AbstractRound554 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
