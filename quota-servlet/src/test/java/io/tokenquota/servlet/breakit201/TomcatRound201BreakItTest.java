package io.tokenquota.servlet.breakit201;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound201BreakItTest extends AbstractRound201 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
