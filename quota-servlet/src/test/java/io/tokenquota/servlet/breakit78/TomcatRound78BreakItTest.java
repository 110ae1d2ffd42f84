package io.tokenquota.servlet.breakit78;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound78BreakItTest extends AbstractRound78 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
