package io.tokenquota.servlet.breakit67;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound67BreakItTest extends AbstractRound67 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
