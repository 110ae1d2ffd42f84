package io.tokenquota.servlet.breakit34;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound34BreakItTest extends AbstractRound34 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
