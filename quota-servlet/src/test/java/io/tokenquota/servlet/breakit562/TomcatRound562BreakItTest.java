package io.tokenquota.servlet.breakit562;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound562BreakItTest extends AbstractRound562 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
