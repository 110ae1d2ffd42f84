package io.tokenquota.servlet.breakit370;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound370BreakItTest extends AbstractRound370 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
