package io.tokenquota.servlet.breakit37;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound37BreakItTest extends AbstractRound37 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
