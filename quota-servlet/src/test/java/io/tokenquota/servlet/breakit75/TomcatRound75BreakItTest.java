package io.tokenquota.servlet.breakit75;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound75BreakItTest extends AbstractRound75 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
