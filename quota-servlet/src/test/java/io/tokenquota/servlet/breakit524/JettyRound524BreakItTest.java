package io.tokenquota.servlet.breakit524;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound524BreakItTest extends AbstractRound524 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
