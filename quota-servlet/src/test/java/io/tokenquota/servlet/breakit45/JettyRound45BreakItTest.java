package io.tokenquota.servlet.breakit45;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound45BreakItTest extends AbstractRound45 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
