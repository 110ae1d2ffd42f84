package io.tokenquota.servlet.breakit199;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound199BreakItTest extends AbstractRound199 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
