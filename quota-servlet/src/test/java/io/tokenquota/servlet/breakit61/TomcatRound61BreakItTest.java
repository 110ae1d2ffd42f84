package io.tokenquota.servlet.breakit61;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound61BreakItTest extends AbstractRound61 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
