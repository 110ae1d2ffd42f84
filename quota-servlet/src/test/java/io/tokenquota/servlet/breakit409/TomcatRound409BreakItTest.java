package io.tokenquota.servlet.breakit409;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound409BreakItTest extends AbstractRound409 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
