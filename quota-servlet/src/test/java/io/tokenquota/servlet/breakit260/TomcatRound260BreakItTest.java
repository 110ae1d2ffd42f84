package io.tokenquota.servlet.breakit260;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound260BreakItTest extends AbstractRound260 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
