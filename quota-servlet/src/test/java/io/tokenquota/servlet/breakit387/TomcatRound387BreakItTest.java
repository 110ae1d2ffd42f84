package io.tokenquota.servlet.breakit387;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound387BreakItTest extends AbstractRound387 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
