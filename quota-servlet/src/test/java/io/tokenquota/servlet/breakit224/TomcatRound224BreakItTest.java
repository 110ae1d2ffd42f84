package io.tokenquota.servlet.breakit224;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound224BreakItTest extends AbstractRound224 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
