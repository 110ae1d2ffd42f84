package io.tokenquota.servlet.breakit246;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound246BreakItTest extends AbstractRound246 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
