package io.tokenquota.servlet.breakit504;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound504BreakItTest extends AbstractRound504 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
