package io.tokenquota.servlet.breakit156;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound156BreakItTest extends AbstractRound156 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
