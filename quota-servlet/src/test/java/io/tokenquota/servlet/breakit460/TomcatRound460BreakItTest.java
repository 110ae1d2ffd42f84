package io.tokenquota.servlet.breakit460;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound460BreakItTest extends AbstractRound460 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
