package io.tokenquota.servlet.breakit8;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRound8BreakItTest extends AbstractRound8BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
