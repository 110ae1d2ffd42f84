package io.tokenquota.servlet.breakit527;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound527BreakItTest extends AbstractRound527 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
