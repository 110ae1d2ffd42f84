package io.tokenquota.servlet.breakit81;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound81BreakItTest extends AbstractRound81 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
