package io.tokenquota.servlet.breakit57;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound57BreakItTest extends AbstractRound57 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
