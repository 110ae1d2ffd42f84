package io.tokenquota.servlet.breakit267;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound267BreakItTest extends AbstractRound267 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
