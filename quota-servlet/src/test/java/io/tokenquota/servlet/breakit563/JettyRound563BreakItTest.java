package io.tokenquota.servlet.breakit563;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound563BreakItTest extends AbstractRound563 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
