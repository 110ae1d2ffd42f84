package io.tokenquota.servlet.breakit286;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound286BreakItTest extends AbstractRound286 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
