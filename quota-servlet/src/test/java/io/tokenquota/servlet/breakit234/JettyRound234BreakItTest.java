package io.tokenquota.servlet.breakit234;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound234BreakItTest extends AbstractRound234 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
