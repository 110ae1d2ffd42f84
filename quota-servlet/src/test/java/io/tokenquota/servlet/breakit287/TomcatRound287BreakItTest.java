package io.tokenquota.servlet.breakit287;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound287BreakItTest extends AbstractRound287 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
