package io.tokenquota.servlet.breakit541;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound541BreakItTest extends AbstractRound541 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
