package io.tokenquota.servlet.breakit552;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound552BreakItTest extends AbstractRound552 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
