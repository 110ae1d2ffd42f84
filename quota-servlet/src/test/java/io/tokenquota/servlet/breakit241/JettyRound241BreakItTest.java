package io.tokenquota.servlet.breakit241;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound241BreakItTest extends AbstractRound241 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
