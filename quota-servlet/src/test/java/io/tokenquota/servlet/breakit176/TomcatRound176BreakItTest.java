package io.tokenquota.servlet.breakit176;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound176BreakItTest extends AbstractRound176 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
