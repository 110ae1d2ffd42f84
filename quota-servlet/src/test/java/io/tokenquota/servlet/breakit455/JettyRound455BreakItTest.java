package io.tokenquota.servlet.breakit455;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound455BreakItTest extends AbstractRound455 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
