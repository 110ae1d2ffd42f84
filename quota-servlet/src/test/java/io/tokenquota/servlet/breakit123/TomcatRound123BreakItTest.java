package io.tokenquota.servlet.breakit123;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound123BreakItTest extends AbstractRound123 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
