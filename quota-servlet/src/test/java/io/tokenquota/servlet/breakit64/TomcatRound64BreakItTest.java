package io.tokenquota.servlet.breakit64;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound64BreakItTest extends AbstractRound64 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
