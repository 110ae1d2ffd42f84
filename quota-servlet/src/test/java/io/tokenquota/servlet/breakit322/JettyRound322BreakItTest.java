package io.tokenquota.servlet.breakit322;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound322BreakItTest extends AbstractRound322 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
