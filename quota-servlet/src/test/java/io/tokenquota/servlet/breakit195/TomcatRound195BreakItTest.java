package io.tokenquota.servlet.breakit195;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound195BreakItTest extends AbstractRound195 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
