package io.tokenquota.servlet.breakit140;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound140BreakItTest extends AbstractRound140 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
