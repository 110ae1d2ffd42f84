package io.tokenquota.servlet.breakit302;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound302BreakItTest extends AbstractRound302 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
