package io.tokenquota.servlet.breakit405;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound405BreakItTest extends AbstractRound405 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
