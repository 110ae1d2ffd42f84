package io.tokenquota.servlet.breakit292;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound292BreakItTest extends AbstractRound292 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
