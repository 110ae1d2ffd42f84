package io.tokenquota.servlet.breakit153;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound153BreakItTest extends AbstractRound153 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
