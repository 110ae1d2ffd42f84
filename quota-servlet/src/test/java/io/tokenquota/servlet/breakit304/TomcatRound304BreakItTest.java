package io.tokenquota.servlet.breakit304;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound304BreakItTest extends AbstractRound304 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
