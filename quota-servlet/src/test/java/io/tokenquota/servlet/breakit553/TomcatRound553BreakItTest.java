package io.tokenquota.servlet.breakit553;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound553BreakItTest extends AbstractRound553 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
