package io.tokenquota.servlet.breakit279;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound279BreakItTest extends AbstractRound279 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
