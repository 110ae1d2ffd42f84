package io.tokenquota.servlet.breakit218;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound218BreakItTest extends AbstractRound218 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
