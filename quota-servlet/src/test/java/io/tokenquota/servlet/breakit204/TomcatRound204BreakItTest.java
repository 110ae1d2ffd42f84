package io.tokenquota.servlet.breakit204;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound204BreakItTest extends AbstractRound204 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
