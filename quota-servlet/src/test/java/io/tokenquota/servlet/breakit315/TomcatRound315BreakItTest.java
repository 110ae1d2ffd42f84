package io.tokenquota.servlet.breakit315;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound315BreakItTest extends AbstractRound315 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
