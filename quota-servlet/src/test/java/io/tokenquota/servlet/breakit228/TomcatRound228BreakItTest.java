package io.tokenquota.servlet.breakit228;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound228BreakItTest extends AbstractRound228 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
