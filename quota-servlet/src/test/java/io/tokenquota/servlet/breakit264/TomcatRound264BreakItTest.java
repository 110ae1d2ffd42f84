package io.tokenquota.servlet.breakit264;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound264BreakItTest extends AbstractRound264 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
