package io.tokenquota.servlet.breakit273;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound273BreakItTest extends AbstractRound273 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
