package io.tokenquota.servlet.breakit15;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound15BreakItTest extends AbstractRound15 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
