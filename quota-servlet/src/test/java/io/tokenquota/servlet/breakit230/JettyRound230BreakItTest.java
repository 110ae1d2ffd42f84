package io.tokenquota.servlet.breakit230;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound230BreakItTest extends AbstractRound230 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
