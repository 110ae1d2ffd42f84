package io.tokenquota.servlet.breakit548;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound548BreakItTest extends AbstractRound548 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
