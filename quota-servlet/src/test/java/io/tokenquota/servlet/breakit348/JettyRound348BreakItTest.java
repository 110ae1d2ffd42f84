package io.tokenquota.servlet.breakit348;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound348BreakItTest extends AbstractRound348 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
