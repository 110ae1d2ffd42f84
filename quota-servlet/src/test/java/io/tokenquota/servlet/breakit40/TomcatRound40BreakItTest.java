package io.tokenquota.servlet.breakit40;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound40BreakItTest extends AbstractRound40 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
