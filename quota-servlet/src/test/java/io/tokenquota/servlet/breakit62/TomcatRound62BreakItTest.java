package io.tokenquota.servlet.breakit62;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound62BreakItTest extends AbstractRound62 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
