package io.tokenquota.servlet.breakit251;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound251BreakItTest extends AbstractRound251 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
