package io.tokenquota.servlet.breakit155;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound155BreakItTest extends AbstractRound155 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
