package io.tokenquota.servlet.breakit13;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound13BreakItTest extends AbstractRound13 {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
