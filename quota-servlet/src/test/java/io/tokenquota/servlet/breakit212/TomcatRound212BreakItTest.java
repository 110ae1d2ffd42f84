package io.tokenquota.servlet.breakit212;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound212BreakItTest extends AbstractRound212 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
