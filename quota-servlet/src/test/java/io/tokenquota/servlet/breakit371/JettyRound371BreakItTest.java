package io.tokenquota.servlet.breakit371;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound371BreakItTest extends AbstractRound371 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
