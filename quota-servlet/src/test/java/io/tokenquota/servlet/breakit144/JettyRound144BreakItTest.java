package io.tokenquota.servlet.breakit144;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound144BreakItTest extends AbstractRound144 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
