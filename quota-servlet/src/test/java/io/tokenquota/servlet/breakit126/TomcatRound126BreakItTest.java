package io.tokenquota.servlet.breakit126;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound126BreakItTest extends AbstractRound126 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
