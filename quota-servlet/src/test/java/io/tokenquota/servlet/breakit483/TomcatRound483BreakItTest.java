package io.tokenquota.servlet.breakit483;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound483BreakItTest extends AbstractRound483 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
