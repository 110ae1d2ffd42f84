package io.tokenquota.servlet.breakit436;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound436BreakItTest extends AbstractRound436 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
