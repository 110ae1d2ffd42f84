package io.tokenquota.servlet.breakit290;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound290BreakItTest extends AbstractRound290 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
