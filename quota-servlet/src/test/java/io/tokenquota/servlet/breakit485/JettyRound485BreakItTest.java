package io.tokenquota.servlet.breakit485;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound485BreakItTest extends AbstractRound485 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
