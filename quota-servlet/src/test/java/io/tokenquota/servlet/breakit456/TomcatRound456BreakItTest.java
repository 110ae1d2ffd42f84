package io.tokenquota.servlet.breakit456;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound456BreakItTest extends AbstractRound456 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
