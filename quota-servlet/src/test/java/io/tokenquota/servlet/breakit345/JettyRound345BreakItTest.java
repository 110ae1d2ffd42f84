package io.tokenquota.servlet.breakit345;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound345BreakItTest extends AbstractRound345 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
