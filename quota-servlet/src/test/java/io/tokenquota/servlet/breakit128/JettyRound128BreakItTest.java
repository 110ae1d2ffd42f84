package io.tokenquota.servlet.breakit128;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound128BreakItTest extends AbstractRound128 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
