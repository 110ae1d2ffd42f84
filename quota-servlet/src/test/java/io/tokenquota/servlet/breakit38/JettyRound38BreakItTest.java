package io.tokenquota.servlet.breakit38;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound38BreakItTest extends AbstractRound38 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
