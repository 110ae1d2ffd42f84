package io.tokenquota.servlet.breakit192;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound192BreakItTest extends AbstractRound192 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
