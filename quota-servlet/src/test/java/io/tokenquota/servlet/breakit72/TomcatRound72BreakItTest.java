package io.tokenquota.servlet.breakit72;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound72BreakItTest extends AbstractRound72 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
