package io.tokenquota.servlet.breakit378;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound378BreakItTest extends AbstractRound378 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
