package io.tokenquota.servlet.breakit308;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound308BreakItTest extends AbstractRound308 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
