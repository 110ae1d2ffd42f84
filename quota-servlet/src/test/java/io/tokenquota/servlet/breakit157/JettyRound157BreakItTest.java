package io.tokenquota.servlet.breakit157;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound157BreakItTest extends AbstractRound157 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
