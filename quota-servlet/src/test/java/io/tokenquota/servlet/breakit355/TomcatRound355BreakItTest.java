package io.tokenquota.servlet.breakit355;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound355BreakItTest extends AbstractRound355 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
