package io.tokenquota.servlet.breakit73;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound73BreakItTest extends AbstractRound73 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
