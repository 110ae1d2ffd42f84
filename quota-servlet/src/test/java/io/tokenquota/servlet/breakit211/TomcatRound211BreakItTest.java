package io.tokenquota.servlet.breakit211;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound211BreakItTest extends AbstractRound211 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
