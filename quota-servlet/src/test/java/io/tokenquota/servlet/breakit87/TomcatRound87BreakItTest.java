package io.tokenquota.servlet.breakit87;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound87BreakItTest extends AbstractRound87 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
