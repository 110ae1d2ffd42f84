package io.tokenquota.servlet.breakit402;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound402BreakItTest extends AbstractRound402 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
