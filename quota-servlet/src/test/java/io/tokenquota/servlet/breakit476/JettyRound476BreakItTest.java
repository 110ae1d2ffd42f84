package io.tokenquota.servlet.breakit476;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound476BreakItTest extends AbstractRound476 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
