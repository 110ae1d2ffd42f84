package io.tokenquota.servlet.breakit127;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound127BreakItTest extends AbstractRound127 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
