package io.tokenquota.servlet.breakit485;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound485TwoFiltersTest extends AbstractRound485TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
