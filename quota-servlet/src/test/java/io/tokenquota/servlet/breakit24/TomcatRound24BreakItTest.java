package io.tokenquota.servlet.breakit24;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound24BreakItTest extends AbstractRound24 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
