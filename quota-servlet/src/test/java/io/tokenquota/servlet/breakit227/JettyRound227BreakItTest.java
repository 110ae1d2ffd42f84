package io.tokenquota.servlet.breakit227;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound227BreakItTest extends AbstractRound227 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
