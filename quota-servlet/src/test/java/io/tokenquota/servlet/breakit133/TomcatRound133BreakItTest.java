package io.tokenquota.servlet.breakit133;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound133BreakItTest extends AbstractRound133 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
