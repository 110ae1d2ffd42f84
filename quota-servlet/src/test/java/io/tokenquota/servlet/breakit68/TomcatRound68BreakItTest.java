package io.tokenquota.servlet.breakit68;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound68BreakItTest extends AbstractRound68 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
