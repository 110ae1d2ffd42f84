package io.tokenquota.servlet.breakit545;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound545BreakItTest extends AbstractRound545 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
