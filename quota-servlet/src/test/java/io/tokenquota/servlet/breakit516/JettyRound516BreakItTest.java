package io.tokenquota.servlet.breakit516;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound516BreakItTest extends AbstractRound516 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
