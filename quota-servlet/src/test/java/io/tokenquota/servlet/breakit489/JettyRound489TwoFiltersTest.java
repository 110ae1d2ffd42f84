package io.tokenquota.servlet.breakit489;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound489TwoFiltersTest extends AbstractRound489TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
