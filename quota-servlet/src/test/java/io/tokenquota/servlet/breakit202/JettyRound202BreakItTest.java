package io.tokenquota.servlet.breakit202;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound202BreakItTest extends AbstractRound202 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
