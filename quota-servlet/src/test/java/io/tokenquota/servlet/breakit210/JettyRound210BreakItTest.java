package io.tokenquota.servlet.breakit210;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound210BreakItTest extends AbstractRound210 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
