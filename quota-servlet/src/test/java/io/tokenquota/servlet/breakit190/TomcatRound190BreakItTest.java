package io.tokenquota.servlet.breakit190;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound190BreakItTest extends AbstractRound190 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
