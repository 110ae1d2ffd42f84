package io.tokenquota.servlet.breakit473;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound473BreakItTest extends AbstractRound473 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
