package io.tokenquota.servlet.breakit558;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound558BreakItTest extends AbstractRound558 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
