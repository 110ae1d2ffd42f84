package io.tokenquota.servlet.breakit447;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound447BreakItTest extends AbstractRound447 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
