package io.tokenquota.servlet.breakit89;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound89BreakItTest extends AbstractRound89 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
