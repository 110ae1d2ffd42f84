package io.tokenquota.servlet.breakit219;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound219BreakItTest extends AbstractRound219 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
