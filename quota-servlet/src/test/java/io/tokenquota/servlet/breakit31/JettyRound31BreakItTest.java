package io.tokenquota.servlet.breakit31;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound31BreakItTest extends AbstractRound31 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
