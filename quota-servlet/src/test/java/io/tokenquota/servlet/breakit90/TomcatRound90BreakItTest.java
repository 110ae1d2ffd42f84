package io.tokenquota.servlet.breakit90;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound90BreakItTest extends AbstractRound90 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
