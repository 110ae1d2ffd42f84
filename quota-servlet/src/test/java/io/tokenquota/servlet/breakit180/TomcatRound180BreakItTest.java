package io.tokenquota.servlet.breakit180;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound180BreakItTest extends AbstractRound180 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
