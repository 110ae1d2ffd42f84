package io.tokenquota.servlet.breakit105;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound105BreakItTest extends AbstractRound105 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
