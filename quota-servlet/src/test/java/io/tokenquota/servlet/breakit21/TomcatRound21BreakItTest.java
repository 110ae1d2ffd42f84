package io.tokenquota.servlet.breakit21;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound21BreakItTest extends AbstractRound21 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
