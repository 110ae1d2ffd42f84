package io.tokenquota.servlet.breakit482;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound482BreakItTest extends AbstractRound482 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
