package io.tokenquota.servlet.breakit303;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound303BreakItTest extends AbstractRound303 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
