package io.tokenquota.servlet.breakit464;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound464BreakItTest extends AbstractRound464 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
