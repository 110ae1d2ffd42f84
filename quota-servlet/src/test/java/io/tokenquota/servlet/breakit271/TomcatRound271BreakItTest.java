package io.tokenquota.servlet.breakit271;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound271BreakItTest extends AbstractRound271 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
