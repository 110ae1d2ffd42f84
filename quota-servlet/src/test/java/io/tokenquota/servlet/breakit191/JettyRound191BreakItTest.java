package io.tokenquota.servlet.breakit191;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound191BreakItTest extends AbstractRound191 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
