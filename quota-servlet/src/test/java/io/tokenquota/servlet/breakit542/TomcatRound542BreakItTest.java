package io.tokenquota.servlet.breakit542;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound542BreakItTest extends AbstractRound542 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
