package io.tokenquota.servlet.breakit521;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound521BreakItTest extends AbstractRound521 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
