package io.tokenquota.servlet.breakit270;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound270BreakItTest extends AbstractRound270 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
