package io.tokenquota.servlet.breakit177;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound177BreakItTest extends AbstractRound177 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
