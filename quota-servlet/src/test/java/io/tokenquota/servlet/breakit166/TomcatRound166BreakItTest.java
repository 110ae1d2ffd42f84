package io.tokenquota.servlet.breakit166;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound166BreakItTest extends AbstractRound166 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
