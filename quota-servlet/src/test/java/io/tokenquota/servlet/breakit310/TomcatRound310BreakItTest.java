package io.tokenquota.servlet.breakit310;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound310BreakItTest extends AbstractRound310 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
