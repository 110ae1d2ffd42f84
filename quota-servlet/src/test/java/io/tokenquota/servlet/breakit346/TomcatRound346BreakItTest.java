package io.tokenquota.servlet.breakit346;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound346BreakItTest extends AbstractRound346 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
