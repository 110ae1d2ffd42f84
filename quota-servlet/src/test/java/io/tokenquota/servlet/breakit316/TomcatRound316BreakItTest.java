package io.tokenquota.servlet.breakit316;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound316BreakItTest extends AbstractRound316 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
