package io.tokenquota.servlet.breakit465;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound465BreakItTest extends AbstractRound465 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
