package io.tokenquota.servlet.breakit137;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound137BreakItTest extends AbstractRound137 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
