package io.tokenquota.servlet.breakit10;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRound10BreakItTest extends AbstractRound10BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
