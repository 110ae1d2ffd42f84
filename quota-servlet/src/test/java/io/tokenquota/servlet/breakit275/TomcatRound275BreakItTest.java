package io.tokenquota.servlet.breakit275;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound275BreakItTest extends AbstractRound275 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
