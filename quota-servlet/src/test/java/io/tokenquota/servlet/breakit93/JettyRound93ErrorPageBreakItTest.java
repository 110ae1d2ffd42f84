package io.tokenquota.servlet.breakit93;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound93ErrorPageBreakItTest extends AbstractRound93ErrorPage {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
