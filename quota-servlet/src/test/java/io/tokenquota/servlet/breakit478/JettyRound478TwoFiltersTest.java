package io.tokenquota.servlet.breakit478;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound478TwoFiltersTest extends AbstractRound478TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
