package io.tokenquota.servlet.breakit561;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound561BreakItTest extends AbstractRound561 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
