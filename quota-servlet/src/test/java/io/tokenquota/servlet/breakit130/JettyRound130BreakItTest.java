package io.tokenquota.servlet.breakit130;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound130BreakItTest extends AbstractRound130 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
