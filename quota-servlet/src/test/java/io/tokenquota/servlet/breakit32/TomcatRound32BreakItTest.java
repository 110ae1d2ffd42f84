package io.tokenquota.servlet.breakit32;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound32BreakItTest extends AbstractRound32 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
