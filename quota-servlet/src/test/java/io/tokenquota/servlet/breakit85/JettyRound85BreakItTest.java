package io.tokenquota.servlet.breakit85;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound85BreakItTest extends AbstractRound85 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
