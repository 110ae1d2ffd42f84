package io.tokenquota.servlet.breakit549;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound549BreakItTest extends AbstractRound549 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
