package io.tokenquota.servlet.breakit154;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound154BreakItTest extends AbstractRound154 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
