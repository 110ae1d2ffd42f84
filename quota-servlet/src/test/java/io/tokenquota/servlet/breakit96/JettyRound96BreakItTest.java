package io.tokenquota.servlet.breakit96;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound96BreakItTest extends AbstractRound96 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
