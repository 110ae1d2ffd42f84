package io.tokenquota.servlet.breakit334;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound334BreakItTest extends AbstractRound334 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
