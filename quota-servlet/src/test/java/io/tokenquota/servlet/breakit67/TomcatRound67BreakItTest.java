package io.tokenquota.servlet.breakit67;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound67BreakItTest extends AbstractRound67 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
