package io.tokenquota.servlet.breakit291;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound291BreakItTest extends AbstractRound291 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
