package io.tokenquota.servlet.breakit52;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound52BreakItTest extends AbstractRound52 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
