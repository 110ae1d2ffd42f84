package io.tokenquota.servlet.breakit494;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound494BreakItTest extends AbstractRound494 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
