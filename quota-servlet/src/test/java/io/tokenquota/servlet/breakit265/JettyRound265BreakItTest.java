package io.tokenquota.servlet.breakit265;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound265BreakItTest extends AbstractRound265 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
