package io.tokenquota.servlet.breakit403;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound403BreakItTest extends AbstractRound403 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
