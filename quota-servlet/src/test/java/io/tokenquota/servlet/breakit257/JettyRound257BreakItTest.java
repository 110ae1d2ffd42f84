package io.tokenquota.servlet.breakit257;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound257BreakItTest extends AbstractRound257 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
