package io.tokenquota.servlet.breakit183;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound183BreakItTest extends AbstractRound183 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
