package io.tokenquota.servlet.breakit5;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRound5BreakItTest extends AbstractRound5BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
