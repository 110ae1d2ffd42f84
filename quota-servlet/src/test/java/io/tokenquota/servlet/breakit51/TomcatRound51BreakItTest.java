package io.tokenquota.servlet.breakit51;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound51BreakItTest extends AbstractRound51 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
