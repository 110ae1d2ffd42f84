package io.tokenquota.servlet.breakit168;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound168BreakItTest extends AbstractRound168 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
