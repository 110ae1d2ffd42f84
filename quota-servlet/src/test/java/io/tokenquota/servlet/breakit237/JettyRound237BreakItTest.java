package io.tokenquota.servlet.breakit237;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound237BreakItTest extends AbstractRound237 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
