package io.tokenquota.servlet.breakit161;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound161BreakItTest extends AbstractRound161 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
