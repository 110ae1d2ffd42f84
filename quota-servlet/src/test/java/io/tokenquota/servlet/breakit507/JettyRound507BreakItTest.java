package io.tokenquota.servlet.breakit507;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound507BreakItTest extends AbstractRound507 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
