package io.tokenquota.servlet.breakit484;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound484BreakItTest extends AbstractRound484 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
