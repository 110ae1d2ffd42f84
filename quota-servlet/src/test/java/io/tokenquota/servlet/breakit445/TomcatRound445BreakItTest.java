package io.tokenquota.servlet.breakit445;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound445BreakItTest extends AbstractRound445 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
