package io.tokenquota.servlet.breakit463;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound463ControlsTest extends AbstractRound463Controls {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
