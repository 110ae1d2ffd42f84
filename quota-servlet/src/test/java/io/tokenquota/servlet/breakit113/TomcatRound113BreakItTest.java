package io.tokenquota.servlet.breakit113;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound113BreakItTest extends AbstractRound113 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
