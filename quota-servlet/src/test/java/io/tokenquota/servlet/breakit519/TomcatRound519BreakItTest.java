package io.tokenquota.servlet.breakit519;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound519BreakItTest extends AbstractRound519 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
