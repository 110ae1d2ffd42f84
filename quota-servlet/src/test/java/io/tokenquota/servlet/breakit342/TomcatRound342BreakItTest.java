package io.tokenquota.servlet.breakit342;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound342BreakItTest extends AbstractRound342 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
