package io.tokenquota.servlet.breakit221;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound221BreakItTest extends AbstractRound221 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
