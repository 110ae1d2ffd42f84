package io.tokenquota.servlet.breakit143;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound143BreakItTest extends AbstractRound143 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
