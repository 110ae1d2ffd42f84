package io.tokenquota.servlet.breakit448;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound448BreakItTest extends AbstractRound448 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
