package io.tokenquota.servlet.breakit207;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound207BreakItTest extends AbstractRound207 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
