package io.tokenquota.servlet.breakit555;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound555BreakItTest extends AbstractRound555 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
