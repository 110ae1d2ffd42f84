package io.tokenquota.servlet.breakit129;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound129BreakItTest extends AbstractRound129 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
