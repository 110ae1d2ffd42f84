package io.tokenquota.servlet.breakit415;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound415BreakItTest extends AbstractRound415 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
