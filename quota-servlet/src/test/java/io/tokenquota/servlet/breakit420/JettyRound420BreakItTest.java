package io.tokenquota.servlet.breakit420;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound420BreakItTest extends AbstractRound420 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
