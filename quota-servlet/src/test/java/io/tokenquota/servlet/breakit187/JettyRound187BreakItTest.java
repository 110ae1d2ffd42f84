package io.tokenquota.servlet.breakit187;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound187BreakItTest extends AbstractRound187 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
