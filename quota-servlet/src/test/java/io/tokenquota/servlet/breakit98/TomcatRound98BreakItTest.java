package io.tokenquota.servlet.breakit98;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound98BreakItTest extends AbstractRound98 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
