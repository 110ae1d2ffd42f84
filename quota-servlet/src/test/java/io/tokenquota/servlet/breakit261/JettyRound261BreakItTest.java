package io.tokenquota.servlet.breakit261;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound261BreakItTest extends AbstractRound261 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
