package io.tokenquota.servlet.breakit292;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound292BreakItTest extends AbstractRound292 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
