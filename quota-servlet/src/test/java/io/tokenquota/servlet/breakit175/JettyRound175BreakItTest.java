package io.tokenquota.servlet.breakit175;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound175BreakItTest extends AbstractRound175 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
