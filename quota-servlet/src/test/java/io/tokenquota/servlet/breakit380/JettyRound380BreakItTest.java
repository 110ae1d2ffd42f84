package io.tokenquota.servlet.breakit380;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound380BreakItTest extends AbstractRound380 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
