package io.tokenquota.servlet.breakit33;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound33BreakItTest extends AbstractRound33 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
