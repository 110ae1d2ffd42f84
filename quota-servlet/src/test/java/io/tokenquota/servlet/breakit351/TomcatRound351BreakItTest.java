package io.tokenquota.servlet.breakit351;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound351BreakItTest extends AbstractRound351 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
