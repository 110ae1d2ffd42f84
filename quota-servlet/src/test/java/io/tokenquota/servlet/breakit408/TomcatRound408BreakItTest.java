package io.tokenquota.servlet.breakit408;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound408BreakItTest extends AbstractRound408 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
