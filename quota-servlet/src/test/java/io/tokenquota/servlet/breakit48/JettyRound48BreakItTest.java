package io.tokenquota.servlet.breakit48;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound48BreakItTest extends AbstractRound48 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
