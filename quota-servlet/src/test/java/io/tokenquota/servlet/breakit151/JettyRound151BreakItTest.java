package io.tokenquota.servlet.breakit151;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound151BreakItTest extends AbstractRound151 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
