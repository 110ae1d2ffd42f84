package io.tokenquota.servlet.breakit467;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound467TwoFiltersTest extends AbstractRound467TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
