package io.tokenquota.servlet.breakit437;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound437BreakItTest extends AbstractRound437 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
