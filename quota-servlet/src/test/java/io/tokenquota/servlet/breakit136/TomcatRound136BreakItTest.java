package io.tokenquota.servlet.breakit136;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound136BreakItTest extends AbstractRound136 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
