package io.tokenquota.servlet.breakit19;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound19BreakItTest extends AbstractRound19 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
