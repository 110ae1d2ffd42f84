package io.tokenquota.servlet.breakit421;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound421BreakItTest extends AbstractRound421 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
