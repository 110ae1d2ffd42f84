package io.tokenquota.servlet.breakit214;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound214BreakItTest extends AbstractRound214 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
