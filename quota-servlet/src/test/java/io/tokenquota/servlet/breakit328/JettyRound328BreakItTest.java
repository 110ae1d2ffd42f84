package io.tokenquota.servlet.breakit328;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound328BreakItTest extends AbstractRound328 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
