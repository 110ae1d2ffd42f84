package io.tokenquota.servlet.breakit497;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound497BreakItTest extends AbstractRound497 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
