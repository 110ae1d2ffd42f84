package io.tokenquota.servlet.breakit6;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRound6BreakItTest extends AbstractRound6BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
