package io.tokenquota.servlet.breakit134;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound134BreakItTest extends AbstractRound134 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
