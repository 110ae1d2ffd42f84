package io.tokenquota.servlet.breakit202;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound202BreakItTest extends AbstractRound202 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
