package io.tokenquota.servlet.breakit320;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound320BreakItTest extends AbstractRound320 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
