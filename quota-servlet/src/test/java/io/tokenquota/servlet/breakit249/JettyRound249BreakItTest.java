package io.tokenquota.servlet.breakit249;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound249BreakItTest extends AbstractRound249 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
