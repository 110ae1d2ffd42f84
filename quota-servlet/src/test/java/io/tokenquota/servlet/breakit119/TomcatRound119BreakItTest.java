package io.tokenquota.servlet.breakit119;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound119BreakItTest extends AbstractRound119 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
