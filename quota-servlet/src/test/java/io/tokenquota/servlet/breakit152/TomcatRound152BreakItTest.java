package io.tokenquota.servlet.breakit152;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound152BreakItTest extends AbstractRound152 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
