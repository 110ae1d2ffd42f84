package io.tokenquota.servlet.breakit268;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound268BreakItTest extends AbstractRound268 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
