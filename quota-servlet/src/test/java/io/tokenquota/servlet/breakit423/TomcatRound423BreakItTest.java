package io.tokenquota.servlet.breakit423;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound423BreakItTest extends AbstractRound423 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
