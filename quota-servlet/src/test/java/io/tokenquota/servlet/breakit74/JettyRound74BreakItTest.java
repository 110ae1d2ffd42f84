package io.tokenquota.servlet.breakit74;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound74BreakItTest extends AbstractRound74 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
