package io.tokenquota.servlet.breakit514;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound514BreakItTest extends AbstractRound514 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
