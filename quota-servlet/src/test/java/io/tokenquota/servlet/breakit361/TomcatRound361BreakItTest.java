package io.tokenquota.servlet.breakit361;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound361BreakItTest extends AbstractRound361 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
