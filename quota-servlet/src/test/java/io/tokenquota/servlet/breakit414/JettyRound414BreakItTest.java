package io.tokenquota.servlet.breakit414;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound414BreakItTest extends AbstractRound414 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
