package io.tokenquota.servlet.breakit544;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound544BreakItTest extends AbstractRound544 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
