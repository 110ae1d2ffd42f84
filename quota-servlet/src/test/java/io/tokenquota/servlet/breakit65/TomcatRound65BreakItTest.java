package io.tokenquota.servlet.breakit65;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound65BreakItTest extends AbstractRound65 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
