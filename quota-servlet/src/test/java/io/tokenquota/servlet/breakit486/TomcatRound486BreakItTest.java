package io.tokenquota.servlet.breakit486;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound486BreakItTest extends AbstractRound486 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
