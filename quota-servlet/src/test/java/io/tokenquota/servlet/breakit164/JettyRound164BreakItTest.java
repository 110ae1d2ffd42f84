package io.tokenquota.servlet.breakit164;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound164BreakItTest extends AbstractRound164 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
