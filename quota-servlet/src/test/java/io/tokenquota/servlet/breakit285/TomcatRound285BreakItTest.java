package io.tokenquota.servlet.breakit285;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound285BreakItTest extends AbstractRound285 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
