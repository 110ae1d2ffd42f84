package io.tokenquota.servlet.breakit499;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound499TwoFiltersTest extends AbstractRound499TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
