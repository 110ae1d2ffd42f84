package io.tokenquota.servlet.breakit509;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound509TwoFiltersTest extends AbstractRound509TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
