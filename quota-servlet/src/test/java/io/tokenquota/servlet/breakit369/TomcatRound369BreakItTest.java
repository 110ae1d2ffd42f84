package io.tokenquota.servlet.breakit369;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound369BreakItTest extends AbstractRound369 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
