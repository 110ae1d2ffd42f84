package io.tokenquota.servlet.breakit296;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound296BreakItTest extends AbstractRound296 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
