package io.tokenquota.servlet.breakit360;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound360BreakItTest extends AbstractRound360 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
