package io.tokenquota.servlet.breakit146;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound146BreakItTest extends AbstractRound146 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
