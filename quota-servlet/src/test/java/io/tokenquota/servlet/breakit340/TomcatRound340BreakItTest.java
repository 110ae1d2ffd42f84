package io.tokenquota.servlet.breakit340;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound340BreakItTest extends AbstractRound340 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
