package io.tokenquota.servlet.breakit499;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound499TwoFiltersTest extends AbstractRound499TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
