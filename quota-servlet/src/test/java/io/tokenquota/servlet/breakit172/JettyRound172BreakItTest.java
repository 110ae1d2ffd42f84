package io.tokenquota.servlet.breakit172;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound172BreakItTest extends AbstractRound172 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
