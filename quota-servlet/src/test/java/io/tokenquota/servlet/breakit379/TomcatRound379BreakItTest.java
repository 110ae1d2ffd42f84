package io.tokenquota.servlet.breakit379;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound379BreakItTest extends AbstractRound379 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
