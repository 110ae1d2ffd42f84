package io.tokenquota.servlet.breakit48;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound48BreakItTest extends AbstractRound48 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
