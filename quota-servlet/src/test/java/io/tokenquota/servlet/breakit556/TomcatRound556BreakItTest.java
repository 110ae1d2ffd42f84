package io.tokenquota.servlet.breakit556;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound556BreakItTest extends AbstractRound556 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
