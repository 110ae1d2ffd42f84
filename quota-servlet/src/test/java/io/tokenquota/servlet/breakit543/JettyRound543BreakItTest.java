package io.tokenquota.servlet.breakit543;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound543BreakItTest extends AbstractRound543 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
