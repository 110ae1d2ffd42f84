package io.tokenquota.servlet.breakit272;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound272BreakItTest extends AbstractRound272 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
