package io.tokenquota.servlet.breakit341;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound341BreakItTest extends AbstractRound341 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
