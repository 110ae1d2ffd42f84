package io.tokenquota.servlet.breakit54;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound54BreakItTest extends AbstractRound54 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
