package io.tokenquota.servlet.breakit383;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound383BreakItTest extends AbstractRound383 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
