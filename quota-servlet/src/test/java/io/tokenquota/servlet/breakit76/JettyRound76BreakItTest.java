package io.tokenquota.servlet.breakit76;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound76BreakItTest extends AbstractRound76 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
