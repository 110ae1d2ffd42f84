package io.tokenquota.servlet.breakit88;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound88BreakItTest extends AbstractRound88 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
