package io.tokenquota.servlet.breakit160;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound160BreakItTest extends AbstractRound160 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
