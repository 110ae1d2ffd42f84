package io.tokenquota.servlet.breakit25;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound25BreakItTest extends AbstractRound25 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
