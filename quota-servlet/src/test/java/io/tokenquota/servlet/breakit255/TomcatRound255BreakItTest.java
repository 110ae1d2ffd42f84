package io.tokenquota.servlet.breakit255;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound255BreakItTest extends AbstractRound255 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
