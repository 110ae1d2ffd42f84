package io.tokenquota.servlet.breakit258;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound258BreakItTest extends AbstractRound258 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
