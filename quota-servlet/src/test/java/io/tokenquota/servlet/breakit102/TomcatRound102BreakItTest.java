package io.tokenquota.servlet.breakit102;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound102BreakItTest extends AbstractRound102 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
