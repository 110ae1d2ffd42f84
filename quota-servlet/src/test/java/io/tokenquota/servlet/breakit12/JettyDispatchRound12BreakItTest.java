package io.tokenquota.servlet.breakit12;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyDispatchRound12BreakItTest extends AbstractDispatchRound12 {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
