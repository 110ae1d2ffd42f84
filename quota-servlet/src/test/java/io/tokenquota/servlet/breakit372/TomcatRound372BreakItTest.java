package io.tokenquota.servlet.breakit372;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound372BreakItTest extends AbstractRound372 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
