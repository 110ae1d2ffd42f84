package io.tokenquota.servlet.breakit55;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound55BreakItTest extends AbstractRound55 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
