package io.tokenquota.servlet.breakit374;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound374BreakItTest extends AbstractRound374 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
