package io.tokenquota.servlet.breakit301;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound301BreakItTest extends AbstractRound301 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
