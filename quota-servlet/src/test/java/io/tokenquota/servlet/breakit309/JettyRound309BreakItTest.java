package io.tokenquota.servlet.breakit309;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound309BreakItTest extends AbstractRound309 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
