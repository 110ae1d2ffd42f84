package io.tokenquota.servlet.breakit117;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound117BreakItTest extends AbstractRound117 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
