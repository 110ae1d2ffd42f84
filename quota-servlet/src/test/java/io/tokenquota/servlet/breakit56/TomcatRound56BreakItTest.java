package io.tokenquota.servlet.breakit56;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound56BreakItTest extends AbstractRound56 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
