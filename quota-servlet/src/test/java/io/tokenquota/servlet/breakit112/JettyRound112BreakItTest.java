package io.tokenquota.servlet.breakit112;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound112BreakItTest extends AbstractRound112 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
