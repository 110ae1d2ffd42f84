package io.tokenquota.servlet.breakit248;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound248BreakItTest extends AbstractRound248 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
