package io.tokenquota.servlet.breakit259;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound259BreakItTest extends AbstractRound259 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
