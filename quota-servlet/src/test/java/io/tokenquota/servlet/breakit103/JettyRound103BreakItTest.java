package io.tokenquota.servlet.breakit103;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound103BreakItTest extends AbstractRound103 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
