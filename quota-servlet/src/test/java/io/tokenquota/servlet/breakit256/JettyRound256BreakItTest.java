package io.tokenquota.servlet.breakit256;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound256BreakItTest extends AbstractRound256 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
