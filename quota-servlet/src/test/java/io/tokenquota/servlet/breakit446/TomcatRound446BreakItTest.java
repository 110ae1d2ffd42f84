package io.tokenquota.servlet.breakit446;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound446BreakItTest extends AbstractRound446 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
