package io.tokenquota.servlet.breakit125;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound125BreakItTest extends AbstractRound125 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
