package io.tokenquota.servlet.breakit111;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound111BreakItTest extends AbstractRound111 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
