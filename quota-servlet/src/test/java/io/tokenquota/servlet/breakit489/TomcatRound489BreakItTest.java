package io.tokenquota.servlet.breakit489;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound489BreakItTest extends AbstractRound489 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
