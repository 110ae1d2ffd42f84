package io.tokenquota.servlet.breakit508;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound508BreakItTest extends AbstractRound508 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
