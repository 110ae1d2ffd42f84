package io.tokenquota.servlet.breakit459;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound459BreakItTest extends AbstractRound459 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
