package io.tokenquota.servlet.breakit523;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound523BreakItTest extends AbstractRound523 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
