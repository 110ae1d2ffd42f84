package io.tokenquota.servlet.breakit298;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound298BreakItTest extends AbstractRound298 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
