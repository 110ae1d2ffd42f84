package io.tokenquota.servlet.breakit163;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound163BreakItTest extends AbstractRound163 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
