package io.tokenquota.servlet.breakit197;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound197BreakItTest extends AbstractRound197 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
