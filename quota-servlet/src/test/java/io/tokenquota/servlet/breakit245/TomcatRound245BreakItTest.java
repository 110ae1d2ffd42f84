package io.tokenquota.servlet.breakit245;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound245BreakItTest extends AbstractRound245 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
