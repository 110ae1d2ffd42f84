package io.tokenquota.servlet.breakit262;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound262BreakItTest extends AbstractRound262 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
