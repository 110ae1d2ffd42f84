package io.tokenquota.servlet.breakit124;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound124BreakItTest extends AbstractRound124 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
