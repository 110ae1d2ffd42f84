package io.tokenquota.servlet.breakit518;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound518BreakItTest extends AbstractRound518 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
