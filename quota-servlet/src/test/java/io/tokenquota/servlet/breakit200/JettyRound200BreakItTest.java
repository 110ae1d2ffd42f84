package io.tokenquota.servlet.breakit200;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound200BreakItTest extends AbstractRound200 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
