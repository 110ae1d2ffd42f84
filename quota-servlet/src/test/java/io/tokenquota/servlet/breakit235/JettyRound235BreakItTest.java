package io.tokenquota.servlet.breakit235;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound235BreakItTest extends AbstractRound235 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
