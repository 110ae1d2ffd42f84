package io.tokenquota.servlet.breakit148;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound148BreakItTest extends AbstractRound148 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
