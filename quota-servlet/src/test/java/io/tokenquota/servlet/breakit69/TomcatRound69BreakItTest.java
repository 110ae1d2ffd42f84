package io.tokenquota.servlet.breakit69;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound69BreakItTest extends AbstractRound69 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
