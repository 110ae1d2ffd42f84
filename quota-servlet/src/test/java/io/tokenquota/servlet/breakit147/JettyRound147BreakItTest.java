package io.tokenquota.servlet.breakit147;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound147BreakItTest extends AbstractRound147 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
