package io.tokenquota.servlet.breakit473;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound473TwoFiltersTest extends AbstractRound473TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
