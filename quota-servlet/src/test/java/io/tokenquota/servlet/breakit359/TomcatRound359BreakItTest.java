package io.tokenquota.servlet.breakit359;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound359BreakItTest extends AbstractRound359 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
