package io.tokenquota.servlet.breakit433;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound433BreakItTest extends AbstractRound433 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
