package io.tokenquota.servlet.breakit465;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound465BreakItTest extends AbstractRound465 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
