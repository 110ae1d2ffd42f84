package io.tokenquota.servlet.breakit485;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyRound485TwoFiltersTest extends AbstractRound485TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
