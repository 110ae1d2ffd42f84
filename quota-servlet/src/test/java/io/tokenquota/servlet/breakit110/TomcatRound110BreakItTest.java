package io.tokenquota.servlet.breakit110;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound110BreakItTest extends AbstractRound110 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
