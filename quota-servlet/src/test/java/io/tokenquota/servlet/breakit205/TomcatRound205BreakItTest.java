package io.tokenquota.servlet.breakit205;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound205BreakItTest extends AbstractRound205 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
