package io.tokenquota.servlet.breakit452;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound452BreakItTest extends AbstractRound452 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
