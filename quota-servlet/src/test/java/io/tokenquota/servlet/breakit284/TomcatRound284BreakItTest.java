package io.tokenquota.servlet.breakit284;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound284BreakItTest extends AbstractRound284 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
