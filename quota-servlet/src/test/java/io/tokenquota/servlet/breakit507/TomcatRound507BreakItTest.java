package io.tokenquota.servlet.breakit507;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound507BreakItTest extends AbstractRound507 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
