package io.tokenquota.servlet.breakit512;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound512TwoFiltersTest extends AbstractRound512TwoFilters {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
