package io.tokenquota.servlet.breakit471;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound471BreakItTest extends AbstractRound471 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
