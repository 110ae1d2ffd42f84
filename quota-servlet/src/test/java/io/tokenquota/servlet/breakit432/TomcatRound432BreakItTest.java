package io.tokenquota.servlet.breakit432;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound432BreakItTest extends AbstractRound432 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
