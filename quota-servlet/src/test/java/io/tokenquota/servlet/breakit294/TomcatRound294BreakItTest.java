package io.tokenquota.servlet.breakit294;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound294BreakItTest extends AbstractRound294 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
