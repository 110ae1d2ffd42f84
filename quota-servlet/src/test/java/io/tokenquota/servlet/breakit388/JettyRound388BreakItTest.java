package io.tokenquota.servlet.breakit388;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound388BreakItTest extends AbstractRound388 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
