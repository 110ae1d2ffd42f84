package io.tokenquota.servlet.breakit122;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound122BreakItTest extends AbstractRound122 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
