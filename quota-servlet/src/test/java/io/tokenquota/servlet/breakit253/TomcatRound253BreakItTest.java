package io.tokenquota.servlet.breakit253;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound253BreakItTest extends AbstractRound253 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
