package io.tokenquota.servlet.breakit161;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound161BreakItTest extends AbstractRound161 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
