package io.tokenquota.servlet.breakit410;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound410BreakItTest extends AbstractRound410 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
