package io.tokenquota.servlet.breakit536;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound536BreakItTest extends AbstractRound536 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
