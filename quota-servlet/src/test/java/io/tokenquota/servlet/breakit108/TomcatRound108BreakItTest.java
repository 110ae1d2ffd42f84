package io.tokenquota.servlet.breakit108;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound108BreakItTest extends AbstractRound108 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
