package io.tokenquota.servlet.breakit179;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound179BreakItTest extends AbstractRound179 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
