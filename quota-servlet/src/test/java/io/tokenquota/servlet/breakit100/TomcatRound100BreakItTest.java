package io.tokenquota.servlet.breakit100;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound100BreakItTest extends AbstractRound100 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
