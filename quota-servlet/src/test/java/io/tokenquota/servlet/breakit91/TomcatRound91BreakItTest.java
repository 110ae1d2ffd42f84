package io.tokenquota.servlet.breakit91;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound91BreakItTest extends AbstractRound91 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
