package io.tokenquota.servlet.breakit510;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound510BreakItTest extends AbstractRound510 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
