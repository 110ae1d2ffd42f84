package io.tokenquota.servlet.breakit114;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound114BreakItTest extends AbstractRound114 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
