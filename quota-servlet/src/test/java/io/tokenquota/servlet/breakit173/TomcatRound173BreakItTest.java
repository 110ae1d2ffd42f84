package io.tokenquota.servlet.breakit173;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound173BreakItTest extends AbstractRound173 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
