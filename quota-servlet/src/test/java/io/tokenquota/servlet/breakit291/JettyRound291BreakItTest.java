package io.tokenquota.servlet.breakit291;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound291BreakItTest extends AbstractRound291 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
