package io.tokenquota.servlet.breakit242;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound242BreakItTest extends AbstractRound242 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
