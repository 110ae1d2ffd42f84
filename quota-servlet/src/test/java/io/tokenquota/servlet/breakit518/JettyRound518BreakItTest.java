package io.tokenquota.servlet.breakit518;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound518BreakItTest extends AbstractRound518 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
