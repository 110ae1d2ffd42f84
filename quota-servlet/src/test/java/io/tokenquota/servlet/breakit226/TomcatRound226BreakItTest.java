package io.tokenquota.servlet.breakit226;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound226BreakItTest extends AbstractRound226 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
