package io.tokenquota.servlet.breakit239;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound239BreakItTest extends AbstractRound239 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
