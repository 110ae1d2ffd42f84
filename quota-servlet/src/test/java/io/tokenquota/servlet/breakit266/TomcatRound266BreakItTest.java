package io.tokenquota.servlet.breakit266;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound266BreakItTest extends AbstractRound266 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
