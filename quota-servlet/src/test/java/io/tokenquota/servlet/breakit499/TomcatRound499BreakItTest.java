package io.tokenquota.servlet.breakit499;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound499BreakItTest extends AbstractRound499 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
