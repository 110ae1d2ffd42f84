package io.tokenquota.servlet.breakit138;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound138BreakItTest extends AbstractRound138 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
