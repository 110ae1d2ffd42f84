package io.tokenquota.servlet.breakit300;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound300AttacksTest extends AbstractRound300Attacks {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
