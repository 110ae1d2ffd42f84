package io.tokenquota.servlet.breakit215;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound215BreakItTest extends AbstractRound215 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
