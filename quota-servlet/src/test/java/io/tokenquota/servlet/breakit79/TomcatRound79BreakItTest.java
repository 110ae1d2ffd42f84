package io.tokenquota.servlet.breakit79;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound79BreakItTest extends AbstractRound79 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
