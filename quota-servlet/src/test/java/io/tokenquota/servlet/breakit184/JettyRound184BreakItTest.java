package io.tokenquota.servlet.breakit184;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound184BreakItTest extends AbstractRound184 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
