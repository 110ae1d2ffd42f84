package io.tokenquota.servlet.breakit135;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound135BreakItTest extends AbstractRound135 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
