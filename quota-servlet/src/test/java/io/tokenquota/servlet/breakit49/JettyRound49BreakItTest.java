package io.tokenquota.servlet.breakit49;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound49BreakItTest extends AbstractRound49 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
