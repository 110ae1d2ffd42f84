package io.tokenquota.servlet.breakit505;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound505BreakItTest extends AbstractRound505 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
