package io.tokenquota.servlet.breakit47;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound47BreakItTest extends AbstractRound47 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
