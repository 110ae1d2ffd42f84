package io.tokenquota.servlet.breakit330;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound330BreakItTest extends AbstractRound330 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
