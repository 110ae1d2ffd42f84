package io.tokenquota.servlet.breakit223;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound223BreakItTest extends AbstractRound223 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
