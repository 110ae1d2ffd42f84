package io.tokenquota.servlet.breakit142;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound142BreakItTest extends AbstractRound142 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
