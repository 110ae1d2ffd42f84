package io.tokenquota.servlet.breakit502;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound502BreakItTest extends AbstractRound502 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
