package io.tokenquota.servlet.breakit124;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound124BreakItTest extends AbstractRound124 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
