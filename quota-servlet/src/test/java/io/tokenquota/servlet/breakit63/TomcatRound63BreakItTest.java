package io.tokenquota.servlet.breakit63;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound63BreakItTest extends AbstractRound63 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
