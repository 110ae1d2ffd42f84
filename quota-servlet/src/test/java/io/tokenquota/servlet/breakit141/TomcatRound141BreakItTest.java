package io.tokenquota.servlet.breakit141;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound141BreakItTest extends AbstractRound141 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
