package io.tokenquota.servlet.breakit373;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound373BreakItTest extends AbstractRound373 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
