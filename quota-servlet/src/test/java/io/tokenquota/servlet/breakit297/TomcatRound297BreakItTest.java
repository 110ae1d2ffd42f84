package io.tokenquota.servlet.breakit297;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound297BreakItTest extends AbstractRound297 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
