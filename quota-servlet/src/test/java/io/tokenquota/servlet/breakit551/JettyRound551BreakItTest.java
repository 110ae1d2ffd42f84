package io.tokenquota.servlet.breakit551;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound551BreakItTest extends AbstractRound551 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
