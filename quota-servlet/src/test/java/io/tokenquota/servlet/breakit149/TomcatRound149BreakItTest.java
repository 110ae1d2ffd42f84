package io.tokenquota.servlet.breakit149;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound149BreakItTest extends AbstractRound149 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
