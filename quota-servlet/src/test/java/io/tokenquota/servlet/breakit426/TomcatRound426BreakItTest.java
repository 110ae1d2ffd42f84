package io.tokenquota.servlet.breakit426;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound426BreakItTest extends AbstractRound426 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
