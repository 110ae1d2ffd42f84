package io.tokenquota.servlet.breakit77;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound77BreakItTest extends AbstractRound77 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
