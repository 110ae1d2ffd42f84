package io.tokenquota.servlet.breakit520;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound520BreakItTest extends AbstractRound520 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
