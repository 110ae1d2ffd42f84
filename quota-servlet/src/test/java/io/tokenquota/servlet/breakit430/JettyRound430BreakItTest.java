package io.tokenquota.servlet.breakit430;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound430BreakItTest extends AbstractRound430 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
