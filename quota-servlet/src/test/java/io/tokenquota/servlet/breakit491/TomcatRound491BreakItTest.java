package io.tokenquota.servlet.breakit491;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound491BreakItTest extends AbstractRound491 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
