package io.tokenquota.servlet.breakit66;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound66BreakItTest extends AbstractRound66 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
