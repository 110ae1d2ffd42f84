package io.tokenquota.servlet.breakit252;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound252BreakItTest extends AbstractRound252 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
