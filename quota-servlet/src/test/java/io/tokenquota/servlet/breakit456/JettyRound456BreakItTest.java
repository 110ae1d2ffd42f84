package io.tokenquota.servlet.breakit456;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound456BreakItTest extends AbstractRound456 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
