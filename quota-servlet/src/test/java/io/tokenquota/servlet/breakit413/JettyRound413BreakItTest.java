package io.tokenquota.servlet.breakit413;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound413BreakItTest extends AbstractRound413 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
