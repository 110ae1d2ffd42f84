package io.tokenquota.servlet.breakit126;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound126BreakItTest extends AbstractRound126 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
