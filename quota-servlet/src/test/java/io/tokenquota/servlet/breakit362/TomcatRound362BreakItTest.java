package io.tokenquota.servlet.breakit362;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound362BreakItTest extends AbstractRound362 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
