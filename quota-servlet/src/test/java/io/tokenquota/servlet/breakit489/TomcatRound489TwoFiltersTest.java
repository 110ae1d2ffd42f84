package io.tokenquota.servlet.breakit489;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound489TwoFiltersTest extends AbstractRound489TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
