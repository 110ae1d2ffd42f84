package io.tokenquota.servlet.breakit293;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound293BreakItTest extends AbstractRound293 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
