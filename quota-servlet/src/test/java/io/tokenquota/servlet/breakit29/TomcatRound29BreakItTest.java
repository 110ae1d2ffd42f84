package io.tokenquota.servlet.breakit29;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound29BreakItTest extends AbstractRound29 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
