package io.tokenquota.servlet.breakit116;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound116BreakItTest extends AbstractRound116 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
