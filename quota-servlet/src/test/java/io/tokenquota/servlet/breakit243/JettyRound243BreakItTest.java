package io.tokenquota.servlet.breakit243;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound243BreakItTest extends AbstractRound243 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
