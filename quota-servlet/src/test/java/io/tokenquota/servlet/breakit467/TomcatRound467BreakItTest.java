package io.tokenquota.servlet.breakit467;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound467BreakItTest extends AbstractRound467 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
