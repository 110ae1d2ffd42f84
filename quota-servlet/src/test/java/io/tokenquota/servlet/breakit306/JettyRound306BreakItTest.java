package io.tokenquota.servlet.breakit306;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound306BreakItTest extends AbstractRound306 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
