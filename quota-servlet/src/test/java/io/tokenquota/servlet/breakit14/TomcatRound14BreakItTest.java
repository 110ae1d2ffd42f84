package io.tokenquota.servlet.breakit14;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound14BreakItTest extends AbstractRound14 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
