package io.tokenquota.servlet.breakit229;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound229BreakItTest extends AbstractRound229 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
