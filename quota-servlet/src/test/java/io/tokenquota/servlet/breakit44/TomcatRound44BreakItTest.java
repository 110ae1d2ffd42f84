package io.tokenquota.servlet.breakit44;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound44BreakItTest extends AbstractRound44 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
